"""One module per resource: the action handlers, their rules and views."""
