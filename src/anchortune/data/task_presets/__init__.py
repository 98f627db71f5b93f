"""Task preset YAML files (data, loaded by anchortune.data.presets)."""
