"""The plugin's datasets and loaders. Importing this package registers them."""
