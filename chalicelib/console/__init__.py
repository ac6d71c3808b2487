"""The lab console: a web page served by the app, and the routes it calls.

``static/`` holds the page (HTML, CSS, JS; no build step, nothing fetched at
run time). ``plates`` and ``xlsx`` are pure; ``results`` lists and summarises
counting results in S3; ``handlers`` holds the route bodies.
"""
