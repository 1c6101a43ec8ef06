-- link-preview: the title and description of each http(s) link in a new
-- memory go into metadata.links = [{url, title, description}]. Only links
-- to hosts the user allowed (the site settings) are fetched: the host API
-- refuses the others before any connection, and the egress policy refuses
-- private addresses. The action "preview" {memory_id} does it on demand.

local MAX_LINKS = 5
local MAX_TEXT = 300

local function unescape(s)
  s = s:gsub("&lt;", "<"):gsub("&gt;", ">"):gsub("&quot;", '"'):gsub("&#39;", "'"):gsub("&amp;", "&")
  return s
end

local function clean(s)
  if not s then return nil end
  s = unescape(s:sub(1, 4 * MAX_TEXT)):gsub("%s+", " "):match("^%s*(.-)%s*$")
  if #s > MAX_TEXT then s = s:sub(1, MAX_TEXT) end
  if s == "" then return nil end
  return s
end

-- Each <meta ...> tag of the head, found with plain searches (linear time;
-- the sandbox refuses patterns that could backtrack over a large page).
local function meta_tags(head)
  local tags, pos_ = {}, 1
  while #tags < 200 do
    local s = head:find("<meta", pos_, true)
    if not s then break end
    local e = head:find(">", s, true)
    if not e then break end
    tags[#tags + 1] = head:sub(s, e)
    pos_ = e + 1
  end
  return tags
end

local function meta(tags, key)
  for _, tag in ipairs(tags) do
    local k = tag:match('name="([^"]*)"') or tag:match('property="([^"]*)"')
    if k and k:lower() == key then return tag:match('content="([^"]*)"') end
  end
  return nil
end

local function title_of(head)
  local lower = head:lower()
  local s = lower:find("<title", 1, true)
  if not s then return nil end
  local open_end = head:find(">", s, true)
  local close = open_end and lower:find("</title", open_end, true)
  if not close then return nil end
  return head:sub(open_end + 1, close - 1)
end

local function preview(url)
  local r, err = pos.http.get(url)
  if not r then return {url = url, error = err} end
  if r.status ~= 200 then return {url = url, error = "HTTP " .. tostring(r.status)} end
  local head = r.body:sub(1, 60000)
  local hend = head:lower():find("</head>", 1, true)
  if hend then head = head:sub(1, hend) end
  local tags = meta_tags(head)
  local title = meta(tags, "og:title") or title_of(head)
  local desc = meta(tags, "og:description") or meta(tags, "description")
  return {url = url, title = clean(title), description = clean(desc)}
end

local function annotate(m)
  local links, seen = {}, {}
  for url in (m.content or ""):gmatch("https?://[%w%-%._~:/%?#@!%$&'%*%+,;=%%]+") do
    url = url:gsub("[%.,;:!%?%)]+$", "")
    if not seen[url] and #links < MAX_LINKS then
      seen[url] = true
      links[#links + 1] = preview(url)
    end
  end
  if #links == 0 then return nil end
  local md = m.metadata or {}
  md.links = links
  pos.memories.update(m.id, {metadata = md})
  return {links = links}
end

function on_memory_created(ev) return annotate(ev.memory) end

function on_user_action(ev)
  if ev.action ~= "preview" then error("unknown action: " .. tostring(ev.action)) end
  local m, err = pos.memories.get(ev.params and ev.params.memory_id or "")
  if not m then return {error = err} end
  return annotate(m) or {}
end
