"""The relay pipeline: authenticate, authorize, route, call, pass the answer back."""
