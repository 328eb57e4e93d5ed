"""Strategic roadmap (methods v2 section 7): the KPI catalogue's keys, KPI status rules and roadmap charts.

Pure: frames and numbers in, statuses and plotly figures out. The figures behind each catalogue metric are
computed in `edtech.services.roadmap` by the same functions the other pages use.
"""
