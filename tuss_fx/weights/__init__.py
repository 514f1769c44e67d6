"""The shipped default model (safetensors + JSON config)."""
