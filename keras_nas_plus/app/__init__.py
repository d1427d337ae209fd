"""The application layer: CLI, YAML configuration, building and running a search, reports."""
