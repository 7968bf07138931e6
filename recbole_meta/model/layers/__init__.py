"""Building blocks shared by the plugin's models (one responsibility per file)."""
