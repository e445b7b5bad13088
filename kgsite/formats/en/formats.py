"""Dates and times as curators read them across the site and the admin: ``2026-11-23 14:05`` (UTC), the form
the admin's date inputs take, instead of Django's "Nov. 23, 2026, 2:05 p.m." beside them."""

DATE_FORMAT = "Y-m-d"
DATETIME_FORMAT = "Y-m-d H:i"
SHORT_DATE_FORMAT = "Y-m-d"
SHORT_DATETIME_FORMAT = "Y-m-d H:i"
TIME_FORMAT = "H:i"
