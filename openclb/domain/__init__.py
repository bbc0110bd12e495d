"""Domain objects: frozen dataclasses and enums shared by services, store and tasks."""
