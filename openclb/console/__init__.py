"""The web console and API Explorer served at ``/console`` on the API port.

The page is an ordinary API client of openclb: static ES modules and CSS (``static/``) that sign
every call in the browser with the key the user enters, plus one JSON document describing every
action of every served service (``catalog.py``). Nothing here reaches the store or the handlers.
"""
