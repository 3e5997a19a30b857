"""Tests of scripts/check_links.py: `python3 -m unittest discover -s scripts -p 'test_*.py'`."""

import os
import subprocess
import sys
import tempfile
import unittest

sys.path.insert(0, os.path.dirname(__file__))
import check_links  # noqa: E402


class Slugs(unittest.TestCase):
    def test_headings_become_github_anchors(self):
        # Expected values as GitHub renders them.
        self.assertEqual(check_links.slug("Two commands"), "two-commands")
        self.assertEqual(check_links.slug("`IngestService`"), "ingestservice")
        self.assertEqual(
            check_links.slug("Plugins: the same scorer built in and as a plugin"),
            "plugins-the-same-scorer-built-in-and-as-a-plugin",
        )
        self.assertEqual(check_links.slug("GRR, NRR & logo churn (v1.2)"), "grr-nrr--logo-churn-v12")
        self.assertEqual(check_links.slug("See [the guide](x.md) **now**"), "see-the-guide-now")
        self.assertEqual(check_links.slug("snake_case_name"), "snake_case_name")

    def test_repeated_headings_are_numbered_and_code_is_not_a_heading(self):
        text = "# Setup\n\n## Setup\n\n```sh\n# not a heading\n```\n\nTitle\n=====\n\n<a id=\"custom\"></a>\n"
        self.assertEqual(check_links.anchors(text), {"setup", "setup-1", "title", "custom"})


class Repository(unittest.TestCase):
    def setUp(self):
        self.dir = tempfile.TemporaryDirectory()
        self.root = self.dir.name
        subprocess.run(["git", "init", "-q", self.root], check=True)

    def tearDown(self):
        self.dir.cleanup()

    def write(self, path, text, track=True):
        full = os.path.join(self.root, path)
        os.makedirs(os.path.dirname(full), exist_ok=True)
        with open(full, "w", encoding="utf-8") as handle:
            handle.write(text)
        if track:
            subprocess.run(["git", "-C", self.root, "add", path], check=True)

    def test_good_links_pass(self):
        self.write("docs/guide.md", "# Guide\n\n## Set up `rapportd`\n\nBack to [the README](../README.md#usage).\n")
        self.write("src/main.rs", "fn main() {}\n")
        self.write(
            "README.md",
            "# Project\n\n## Usage\n\n"
            "[guide](docs/guide.md#set-up-rapportd), [code](src/main.rs), [dir](src/), [self](#usage),\n"
            "[site](https://example.com/x), ![img](<docs/guide.md>)\n\n"
            "[ref]: docs/guide.md\n",
        )
        self.assertEqual(check_links.check(self.root), [])

    def test_every_kind_of_broken_link_is_reported(self):
        self.write("ignored.md", "# Ignored\n", track=False)
        self.write(
            "README.md",
            "# Project\n\n"
            "[outside](../shared/METRICS.md)\n"
            "[untracked](ignored.md)\n"
            "[anchor](#nowhere)\n"
            "[absolute](/README.md)\n"
            "`[in code](missing.md)` is text.\n\n"
            "```md\n[in a block](missing.md)\n```\n\n"
            "[ref]: missing.md\n",
        )
        problems = check_links.check(self.root)
        self.assertEqual(len(problems), 5, problems)
        for line, words in [
            (3, "outside the repository"),
            (4, "not in the repository"),
            (5, "no heading or id #nowhere"),
            (6, "absolute"),
            (13, "missing.md is not in the repository"),
        ]:
            self.assertTrue(
                any(p.startswith(f"README.md:{line}:") and words in p for p in problems), (line, problems)
            )


if __name__ == "__main__":
    unittest.main()
