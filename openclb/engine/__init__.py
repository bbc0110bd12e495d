"""Data planes behind the Engine contract; never imports api, services or store."""
