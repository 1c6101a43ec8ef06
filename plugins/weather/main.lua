-- weather: the design's example plugin. On a memory that names a place
-- ("in Lisbon", "at Porto") and a day ("today", "tomorrow", "yesterday",
-- "2026-12-24"), it looks the place up and stores that day's weather in
-- the memory's metadata under "weather". on_query answers "weather in X".
-- Wire format: Open-Meteo's /v1/search (geocoding) and /v1/forecast.

local DAY = 86400

local function trim_url(u) return (u:gsub("/+$", "")) end

local function urlencode(s)
  return (s:gsub("[^%w%-%._~]", function(c) return string.format("%%%02X", c:byte()) end))
end

-- The day a memory names, as YYYY-MM-DD (UTC), relative to `now` (seconds).
local function day_of(text, now)
  local lower = text:lower()
  local y, m, d = text:match("(%d%d%d%d)%-(%d%d)%-(%d%d)")
  if y then return y .. "-" .. m .. "-" .. d end
  if lower:find("tomorrow", 1, true) then return os.date("!%Y-%m-%d", now + DAY) end
  if lower:find("yesterday", 1, true) then return os.date("!%Y-%m-%d", now - DAY) end
  if lower:find("today", 1, true) or lower:find("tonight", 1, true) then
    return os.date("!%Y-%m-%d", now)
  end
  return nil
end

-- A capitalised place name after "in"/"at"/"to" ("in New York").
local function place_of(text)
  for word in text:gmatch("[Ii]n%s+(%u[%a%-]+)") do return word end
  for word in text:gmatch("[Aa]t%s+(%u[%a%-]+)") do return word end
  for word in text:gmatch("[Tt]o%s+(%u[%a%-]+)") do return word end
  return nil
end

local function get_json(url)
  local r, err = pos.http.get(url)
  if not r then return nil, err end
  if r.status ~= 200 then return nil, "HTTP " .. tostring(r.status) end
  return pos.json.decode(r.body)
end

local function geocode(name)
  local cached = pos.kv.get("geo:" .. name)
  if cached then return pos.json.decode(cached) end
  local s = pos.settings()
  local doc, err = get_json(trim_url(s.geocoding_url) .. "/v1/search?count=1&format=json&name=" .. urlencode(name))
  if not doc then return nil, err end
  local r = doc.results and doc.results[1]
  if not r then return nil, "unknown place" end
  local place = {name = r.name, country = r.country, latitude = r.latitude, longitude = r.longitude}
  pos.kv.set("geo:" .. name, pos.json.encode(place))
  return place
end

local function forecast(place, day)
  local s = pos.settings()
  local url = string.format("%s/v1/forecast?latitude=%s&longitude=%s&daily=weather_code,temperature_2m_max,temperature_2m_min,precipitation_sum&timezone=UTC&start_date=%s&end_date=%s",
    trim_url(s.weather_url), tostring(place.latitude), tostring(place.longitude), day, day)
  if s.units == "fahrenheit" then url = url .. "&temperature_unit=fahrenheit" end
  local doc, err = get_json(url)
  if not doc then return nil, err end
  local d = doc.daily
  if not d or not d.time or d.time[1] ~= day then return nil, "no data for that day" end
  local units = doc.daily_units or {}
  return {
    place = place.name, country = place.country, date = day,
    temperature_max = d.temperature_2m_max and d.temperature_2m_max[1],
    temperature_min = d.temperature_2m_min and d.temperature_2m_min[1],
    precipitation = d.precipitation_sum and d.precipitation_sum[1],
    weather_code = d.weather_code and d.weather_code[1],
    unit = units.temperature_2m_max or "°C",
  }
end

local function describe(w)
  return string.format("%s on %s: %s to %s%s, %s mm of rain", w.place, w.date,
    tostring(w.temperature_min), tostring(w.temperature_max), w.unit, tostring(w.precipitation))
end

local function annotate(m)
  local text = m.content or ""
  local place = place_of(text)
  local day = day_of(text, pos.now() // 1000)
  if not place or not day then return nil end
  local where, err = geocode(place)
  if not where then pos.log("info", "no weather: " .. tostring(err)) return nil end
  local w, ferr = forecast(where, day)
  if not w then pos.log("info", "no weather: " .. tostring(ferr)) return nil end
  local meta = m.metadata or {}
  meta.weather = w
  pos.memories.update(m.id, {metadata = meta})
  return {weather = w}
end

function on_memory_created(ev)
  return annotate(ev.memory)
end

-- The action "annotate" {memory_id = ...}: the same, for one memory, on demand.
function on_user_action(ev)
  if ev.action ~= "annotate" then error("unknown action: " .. tostring(ev.action)) end
  local id = ev.params and ev.params.memory_id
  if type(id) ~= "string" then error("params.memory_id is required") end
  local m, err = pos.memories.get(id)
  if not m then return {error = err} end
  return annotate(m) or {}
end

function on_query(ev)
  local q = ev.query or ""
  local place = q:match("^[Ww]eather%s+in%s+([%a][%a%s%-]*)$") or q:match("[Ww]eather%s+in%s+(%u[%a%-]*)")
  if not place then return nil end
  place = place:gsub("%s+$", "")
  local day = day_of(q, pos.now() // 1000) or os.date("!%Y-%m-%d", pos.now() // 1000)
  local where = geocode(place)
  if not where then return nil end
  local w = forecast(where, day)
  if not w then return nil end
  return {answer = "Weather in " .. describe(w)}
end
