"""General (interaction-based) recommenders of the plugin, evaluated with RecBole's full-sort pipeline."""
