"""Running the gateway: setup, settings, keys, partners, health, metrics and the demo."""
