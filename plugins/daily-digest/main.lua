-- daily-digest: on_user_action("digest", {date = "YYYY-MM-DD"?}) gathers
-- the memories of that day (default: yesterday, UTC) with
-- pos.memories.list and saves a note tagged "digest" that sums them up.

local DAY = 86400

local function first_line(s)
  local l = (s or ""):match("^%s*([^\n]*)") or ""
  if #l > 120 then l = l:sub(1, 117) .. "..." end
  return l
end

function on_user_action(ev)
  if ev.action ~= "digest" then error("unknown action: " .. tostring(ev.action)) end
  local now = pos.now() // 1000
  local day = ev.params and ev.params.date or os.date("!%Y-%m-%d", now - DAY)
  local y, m, d = tostring(day):match("^(%d%d%d%d)%-(%d%d)%-(%d%d)$")
  if not y then error("params.date must be YYYY-MM-DD") end
  local t0 = os.time({year = tonumber(y), month = tonumber(m), day = tonumber(d), hour = 12})
  local next_day = os.date("!%Y-%m-%d", t0 + DAY)
  local limit = math.tointeger(pos.settings().max_items) or 20
  if limit > 50 then limit = 50 end
  local found = pos.memories.list({after = day, before = next_day, sort = "oldest", limit = 50}) or {}
  local items, types, tags = {}, {}, {}
  for _, mem in ipairs(found) do
    local c = mem.created_at or ""
    local is_digest = false
    for _, t in ipairs(mem.tags or {}) do if t == "digest" then is_digest = true end end
    if c:sub(1, 10) == day and not is_digest then
      items[#items + 1] = mem
      types[mem.type or "note"] = (types[mem.type or "note"] or 0) + 1
      for _, t in ipairs(mem.tags or {}) do tags[t] = (tags[t] or 0) + 1 end
    end
  end
  if #items == 0 then return {created = nil, count = 0} end
  local tlist = {}
  for t, n in pairs(tags) do tlist[#tlist + 1] = {t, n} end
  table.sort(tlist, function(a, b) return a[2] > b[2] or (a[2] == b[2] and a[1] < b[1]) end)
  local typelist = {}
  for t, n in pairs(types) do typelist[#typelist + 1] = n .. " " .. t end
  table.sort(typelist)
  local lines = {"Digest of " .. day .. ": " .. #items .. " memories (" .. table.concat(typelist, ", ") .. ")."}
  if #tlist > 0 then
    local top = {}
    for i = 1, math.min(5, #tlist) do top[#top + 1] = tlist[i][1] end
    lines[#lines + 1] = "Top tags: " .. table.concat(top, ", ") .. "."
  end
  for i = 1, math.min(limit, #items) do lines[#lines + 1] = "- " .. first_line(items[i].content) end
  local note = pos.memories.create({content = table.concat(lines, "\n"), type = "note",
                                    tags = {"digest"}, metadata = {digest_of = day, count = #items}})
  return {created = note and note.id, count = #items}
end
