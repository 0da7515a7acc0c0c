#!/usr/bin/env python3
"""Scrapes ftserve's --metrics endpoint and parses it with prometheus_client.

The parser is Prometheus's own Python client (Debian's python3-prometheus-
client), not ours: what it accepts, a Prometheus server accepts. Prints one
JSON object: the response's Content-Type, each family's type and help, and
every sample (name, labels, value). Exits 1 when the scrape or the parse
fails. Usage: scrape_metrics.py URL
"""
import json
import sys
import urllib.request

from prometheus_client.parser import text_string_to_metric_families


def main(url):
    with urllib.request.urlopen(url, timeout=20) as response:
        status = response.status
        content_type = response.headers.get("Content-Type", "")
        body = response.read().decode("utf-8")
    families = {}
    samples = []
    for family in text_string_to_metric_families(body):
        families[family.name] = {"type": family.type, "help": family.documentation}
        for sample in family.samples:
            samples.append({"name": sample.name, "labels": sample.labels, "value": sample.value})
    print(json.dumps({"status": status, "content_type": content_type, "families": families,
                      "samples": samples}))
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main(sys.argv[1]))
    except Exception as error:  # the test shows why
        print(f"scrape_metrics.py: {error!r}", file=sys.stderr)
        sys.exit(1)
