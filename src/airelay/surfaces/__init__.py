"""HTTP faces of the gateway: parse just enough, hand over to the relay, answer."""
