"""The write path: load files, chunk them with exact offsets, embed, and store an index folder."""
