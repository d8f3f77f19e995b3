"""The clone_voices flow and its tasks: discover voices, prepare clips, clone per provider, record."""
