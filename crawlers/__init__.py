"""mediawatch's Scrapy project: discover and fetch coverage of a topic.

Layout follows Scrapy's architecture: the spider (``spiders/topic.py``) only
discovers URLs and turns responses into records; each middleware and pipeline
does one job (address policy, conditional GET, content-type filter, WARC
archive, retry backoff, seen-URL filter, crawl state, batch file, summary); the
behaviour is set in ``settings.py``. ``runner.run_crawl`` runs a crawl in its
own process and is what the CLI and Airflow call.
"""
