"""The daemon's I/O shell: the event loop, media, FIFO, API server, logging, state files."""
