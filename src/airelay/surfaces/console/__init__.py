"""The web console's face: accounts and sessions, the signed-in user's own keys, money and
usage, and the static single-page app itself."""
