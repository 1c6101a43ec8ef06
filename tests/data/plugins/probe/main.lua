-- Probe: a module-level counter (kept by a reused sandbox, for one plugin
-- and user only) and a global set by each call (reset between calls).
local calls = 0

function on_user_action(ev)
  calls = calls + 1
  local before = leaked
  leaked = ev.action
  local mark = string.probe_mark
  string.probe_mark = ev.action
  return {calls = calls, global_before = before, mark_before = mark, label = pos.settings().label}
end

function on_memory_created(ev)
  local c = ev.memory.content or ""
  if c:find("boom", 1, true) then error("boom on purpose") end
  if c:find("bomb", 1, true) then
    local t = {}
    for i = 1, 1e8 do t[i] = string.rep("x", 64) .. i end
  end
  pos.memories.tag(ev.memory.id, pos.settings().label)
  return {}
end

-- Before the insert (content starting "creating"): tries the writes the
-- stage refuses, returns its label and what happened as tags, plus values
-- the host must drop (not a string, empty).
function on_memory_creating(ev)
  local c = ev.memory.content or ""
  if c:sub(1, 8) ~= "creating" then return nil end
  if c:find("boom", 1, true) then error("boom before the insert") end
  if c:sub(1, 15) == "creating batch " then
    -- Each memory of a bulk sees its own fields, whatever the call
    -- before did to the event (the batch reuses the tables).
    local m = ev.memory
    local tags = {"c=" .. c:sub(16), "n=" .. #m.tags, "meta=" .. tostring(m.metadata.k),
                  "id=" .. (m.id ~= last_id and "new" or "same"),
                  'q="' .. c:sub(16) .. '"\\\195\169'}
    last_id = m.id
    m.content, m.id, m.type = nil, "forged", 7
    m.tags[#m.tags + 1] = "x"
    m.metadata.k = "changed"
    -- A metatable that would swallow the next memory's fields is dropped.
    setmetatable(m, {__newindex = function() end, __index = function() return "forged" end})
    ev.memory = nil
    setmetatable(ev, {__newindex = function() end})
    return {tags = tags}
  end
  if c == "creating event" then -- the event's fields, as tags
    local m = ev.memory
    return {tags = {"type=" .. m.type, "layer=" .. m.layer, "source=" .. m.source,
                    "tags=" .. table.concat(m.tags, "+"), "meta=" .. tostring(m.metadata.k),
                    "id=" .. (#m.id == 36 and "ok" or "bad"),
                    "at=" .. (m.created_at:match("^%d%d%d%d%-%d%d%-%d%dT") and "ok" or "bad"),
                    "importance=" .. tostring(m.importance), "n=" .. #m.tags}}
  end
  local made, why = pos.memories.create({content = "nested"})
  local verdict = (made == nil and why:find("on_memory_creating", 1, true)) and "create-refused"
    or "create-allowed"
  local tagged = pos.memories.tag(ev.memory.id, "direct")
  local found = pos.memories.search("nested")
  return {tags = {pos.settings().label, verdict, tagged and "tag-allowed" or "tag-refused",
                  found and "search-allowed" or "search-refused", 7, ""}}
end
