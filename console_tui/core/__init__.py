"""The engine: config, backings, control, keys, screen model, sessions and the Hub. No Textual here."""
