"""What a model version relies on: its global attributions, kept when it is registered or retrained."""
