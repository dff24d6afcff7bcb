"""The crawl's spiders (one: ``topic``)."""
