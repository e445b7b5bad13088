"""What the exploration pages draw and export: SVG pictures and charts rendered on the server, GraphML and JSON.

Pure functions of selector results (no database access): ``graph_svg`` (a subgraph as a picture), ``charts``
(the dashboard's bar charts), ``graph_export`` (a subgraph as JSON or GraphML).
"""
