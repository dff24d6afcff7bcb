"""Scrapy settings for mediawatch crawls: politeness, limits, and the pipeline of components.

``runner.run_crawl`` adds the per-run settings (``MEDIAWATCH_STATE_DIR``,
``MEDIAWATCH_RUN_ID``, ``MEDIAWATCH_OUT_DIR``, allowed address classes) and any
caller overrides (tests and benchmarks turn throttling off that way).
"""

import os

from crawlers.urls import DEFAULT_TRACKING_PARAMS

BOT_NAME = "mediawatch"
SPIDER_MODULES = ["crawlers.spiders"]
NEWSPIDER_MODULE = "crawlers.spiders"

# Identify ourselves and give site owners a way to reach us.
_CONTACT = os.environ.get("MEDIAWATCH_USER_AGENT_CONTACT") or "https://github.com/mediawatch/mediawatch"
USER_AGENT = f"mediawatch/0.1 (+{_CONTACT})"
ROBOTSTXT_OBEY = True
ROBOTSTXT_USER_AGENT = "mediawatch"

# Politeness: a few parallel requests per site, adapted to how fast the site answers.
CONCURRENT_REQUESTS = 32
CONCURRENT_REQUESTS_PER_DOMAIN = 4
DOWNLOAD_DELAY = 0.25
AUTOTHROTTLE_ENABLED = True
AUTOTHROTTLE_START_DELAY = 1.0
AUTOTHROTTLE_MAX_DELAY = 30.0
AUTOTHROTTLE_TARGET_CONCURRENCY = 2.0

# Search APIs ask for slow, sequential use (GDELT: one request per 5 seconds); the
# spider tells AutoThrottle not to shorten these delays.
DOWNLOAD_SLOTS = {
    "api.gdeltproject.org": {"concurrency": 1, "delay": 5.0},
    "news.google.com": {"concurrency": 1, "delay": 2.0},
}

# Limits: slow, huge or looping responses fail with a recorded reason.
DOWNLOAD_TIMEOUT = 30
DOWNLOAD_MAXSIZE = 10 * 1024 * 1024
DOWNLOAD_WARNSIZE = 4 * 1024 * 1024
REDIRECT_MAX_TIMES = 5
RETRY_ENABLED = True
RETRY_TIMES = 2
# Scrapy's list minus name-resolution failures: a name that does not resolve now
# will not resolve seconds later, and retrying it only stalls an offline run. The
# crawl state retries such URLs in later runs (MEDIAWATCH_MAX_FAILED_RUNS).
RETRY_EXCEPTIONS = [
    "scrapy.exceptions.DownloadConnectionRefusedError",
    "scrapy.exceptions.DownloadFailedError",
    "scrapy.exceptions.DownloadTimeoutError",
    "scrapy.exceptions.ResponseDataLossError",
    "twisted.internet.error.ConnectionDone",
    "twisted.internet.error.ConnectError",
    "twisted.internet.error.ConnectionLost",
    "builtins.OSError",
    "scrapy.core.downloader.handlers.http11.TunnelError",
]
MEDIAWATCH_RETRY_BACKOFF_BASE = 2.0   # seconds before the first retry, doubled each attempt
MEDIAWATCH_RETRY_BACKOFF_MAX = 60.0

# Deduplication is the seen-URL middleware's job (across runs, on canonical URLs);
# Scrapy's in-run filter would drop redirect targets silently.
DUPEFILTER_CLASS = "scrapy.dupefilters.BaseDupeFilter"
COOKIES_ENABLED = False
TELNETCONSOLE_ENABLED = False
LOG_LEVEL = "INFO"

# Checks the address each connection uses, not only the one the middleware saw.
TWISTED_DNS_RESOLVER = "crawlers.addresses.AddressPolicyResolver"

DOWNLOADER_MIDDLEWARES = {
    "crawlers.middlewares.AddressPolicyMiddleware": 50,       # before robots.txt is fetched for a host
    "crawlers.middlewares.WarcArchiveMiddleware": 120,        # responses: last, after every filter
    "crawlers.middlewares.ContentTypeFilterMiddleware": 130,
    "crawlers.middlewares.ConditionalGetMiddleware": 450,
    "scrapy.downloadermiddlewares.retry.RetryMiddleware": None,
    "crawlers.middlewares.BackoffRetryMiddleware": 550,
}
SPIDER_MIDDLEWARES = {
    "crawlers.middlewares.SeenUrlFilterMiddleware": 600,
}
ITEM_PIPELINES = {
    "crawlers.pipelines.CrawlStatePipeline": 100,
    "crawlers.pipelines.BatchWriterPipeline": 200,
    "crawlers.pipelines.RunSummaryPipeline": 300,
}

MEDIAWATCH_TRACKING_PARAMS = list(DEFAULT_TRACKING_PARAMS)
MEDIAWATCH_ALLOWED_ADDRESS_CLASSES: list[str] = []  # e.g. ["loopback", "private"]: --allow-private-hosts
MEDIAWATCH_MAX_FAILED_RUNS = 3  # runs in which a URL may fail transiently before it is given up
MEDIAWATCH_WARC_MAX_BYTES = 1024 * 1024 * 1024
