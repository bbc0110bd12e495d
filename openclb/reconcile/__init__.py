"""Durable tasks and the worker that carries them out against the engine."""
