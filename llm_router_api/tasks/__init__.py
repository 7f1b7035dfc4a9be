"""Asynchronous tasks: a built-in task submitted with ``"async": true`` runs in the background and its
result is kept in the results database, readable from any worker and after a restart."""
