"""The ops area: pages for the people who run Stitch (sub-app at /ops) and the `stitch graph` commands.

Import what you need from the modules (`app.ops.pages`, `app.ops.commands`, ...): the pages pull in
the graph layout's numerical libraries, which the command line should not pay for.
"""
