"""The plugin's models. Importing this package registers them (see :func:`recbole_meta.utils.register_model`)."""
