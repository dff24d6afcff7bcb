"""mediawatch: find coverage of a story across the world's press and make it searchable."""
