"""Sequential recommenders of the plugin: PeterRec (pre-trained NextItNet + model patches)."""
