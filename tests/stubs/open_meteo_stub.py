"""open_meteo_stub.py - a local stand-in for Open-Meteo (https://open-meteo.com),
for the weather plugin's tests. It speaks the two endpoints the plugin uses,
in Open-Meteo's wire format:

  GET /v1/search?name=NAME&count=N&format=json      (geocoding-api.open-meteo.com)
      -> {"results": [{"id", "name", "latitude", "longitude", "country", ...}],
          "generationtime_ms"}   ("results" absent when nothing matches)
  GET /v1/forecast?latitude=..&longitude=..&daily=a,b,..&timezone=UTC
                  &start_date=YYYY-MM-DD&end_date=YYYY-MM-DD
      -> {"latitude", "longitude", "timezone", "daily_units": {...},
          "daily": {"time": [...], "<variable>": [...], ...}}
      (400 {"error": true, "reason": "..."} for a bad parameter)

Places it knows: Lisbon, Porto, Berlin. The weather of a day is a fixed
function of the place and the date, so tests can predict it. Every request
path is recorded in `requests`. Python standard library only; listens on
127.0.0.1 only.

Use from a test:  stub = OpenMeteoStub().start(); stub.url; stub.stop()
"""

import datetime
import json
import threading
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

PLACES = {
    "lisbon": {"id": 2267057, "name": "Lisbon", "latitude": 38.71667, "longitude": -9.13333,
               "elevation": 45.0, "country_code": "PT", "country": "Portugal",
               "timezone": "Europe/Lisbon", "admin1": "Lisbon"},
    "porto": {"id": 2735943, "name": "Porto", "latitude": 41.14961, "longitude": -8.61099,
              "elevation": 104.0, "country_code": "PT", "country": "Portugal",
              "timezone": "Europe/Lisbon", "admin1": "Porto"},
    "berlin": {"id": 2950159, "name": "Berlin", "latitude": 52.52437, "longitude": 13.41053,
               "elevation": 74.0, "country_code": "DE", "country": "Germany",
               "timezone": "Europe/Berlin", "admin1": "Land Berlin"},
}

UNITS = {"weather_code": "wmo code", "temperature_2m_max": "°C", "temperature_2m_min": "°C",
         "precipitation_sum": "mm"}


def weather_for(lat, day):
    """The stand-in's weather: deterministic in latitude and date."""
    n = day.toordinal()
    tmax = round(30.0 - abs(lat) * 0.4 + (n % 5), 1)
    return {"weather_code": [61 if n % 2 else 1], "temperature_2m_max": [tmax],
            "temperature_2m_min": [round(tmax - 6.5, 1)],
            "precipitation_sum": [round((n % 4) * 1.2, 1)]}


class OpenMeteoStub:
    def __init__(self):
        self.requests = []
        self.lock = threading.Lock()
        owner = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *a):
                pass

            def _json(self, status, obj):
                data = json.dumps(obj).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json; charset=utf-8")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def do_GET(self):
                with owner.lock:
                    owner.requests.append(self.path)
                u = urllib.parse.urlsplit(self.path)
                q = dict(urllib.parse.parse_qsl(u.query))
                if u.path == "/v1/search":
                    place = PLACES.get(q.get("name", "").strip().lower())
                    body = {"generationtime_ms": 0.4}
                    if place:
                        body["results"] = [place]
                    return self._json(200, body)
                if u.path == "/v1/forecast":
                    try:
                        lat = float(q["latitude"])
                        float(q["longitude"])
                        start = datetime.date.fromisoformat(q["start_date"])
                        end = datetime.date.fromisoformat(q["end_date"])
                    except (KeyError, ValueError) as e:
                        return self._json(400, {"error": True, "reason": "Invalid parameter: %s" % e})
                    wanted = [v for v in q.get("daily", "").split(",") if v]
                    daily = {"time": []}
                    units = {"time": "iso8601"}
                    for v in wanted:
                        if v not in UNITS:
                            return self._json(400, {"error": True,
                                                     "reason": "Cannot initialize WeatherVariable from invalid String value %s" % v})
                        daily[v] = []
                        units[v] = UNITS[v]
                    day = start
                    while day <= end:
                        daily["time"].append(day.isoformat())
                        w = weather_for(lat, day)
                        for v in wanted:
                            daily[v].append(w[v][0])
                        day += datetime.timedelta(days=1)
                    return self._json(200, {"latitude": lat, "longitude": float(q["longitude"]),
                                            "generationtime_ms": 0.1, "utc_offset_seconds": 0,
                                            "timezone": "GMT", "timezone_abbreviation": "GMT",
                                            "elevation": 40.0, "daily_units": units, "daily": daily})
                return self._json(404, {"error": True, "reason": "Not Found"})

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.port = self.httpd.server_address[1]
        self.url = "http://127.0.0.1:%d" % self.port

    def start(self):
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()
        return self

    def stop(self):
        self.httpd.shutdown()
        self.httpd.server_close()

    def count(self):
        with self.lock:
            return len(self.requests)
