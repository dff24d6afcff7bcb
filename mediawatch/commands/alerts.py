"""mediawatch alerts: list the alerts (an outlet carrying a claim for the first time)."""

from __future__ import annotations

import json

from mediawatch.settings import load_settings


def add_arguments(parser) -> None:
    parser.add_argument("--json", action="store_true", help="JSON Lines, one alert per line")
    parser.add_argument("--baseline", action="store_true", help="also list each claim's first known carrier")
    parser.add_argument("--size", type=int, default=100, help="most alerts to list (newest first)")


def run(args) -> int:
    from processors.alerts import list_alerts

    alerts = list_alerts(load_settings(), include_baseline=args.baseline, size=args.size)
    if args.json:
        for alert in alerts:
            print(json.dumps(alert, ensure_ascii=False))
        return 0
    print(f"{len(alerts)} alerts")
    for alert in alerts:
        kind = "baseline" if alert.get("baseline") else "ALERT"
        print(f"\n{kind} {alert['alerted_at']}: {alert['outlet_name'] or alert['outlet']} ({alert['outlet']}) carries {alert['claim_id']}")
        print(f"   {alert['claim_label']}")
        print(f"   {alert.get('article_title') or '(no title)'} | {(alert.get('published_at') or 'undated')[:10]} | {alert['article_url']}")
        print(f"   \u201c{(alert.get('passage') or '').strip()[:400]}\u201d")
        print(f"   delivered to: {', '.join(alert.get('delivered_to') or []) or '-'}")
    return 0
