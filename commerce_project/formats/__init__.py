"""Date and time formats for the pages Django renders (the admin): always with seconds
and the time zone, since saga steps and events are seconds apart. Named by
settings.FORMAT_MODULE_PATH; the API answers ISO 8601 regardless."""
