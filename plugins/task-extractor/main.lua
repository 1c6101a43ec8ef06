-- task-extractor: every sentence of a new note that says what the user
-- needs to do becomes an `action` memory (tag "task"), with a due date when
-- the sentence gives one ("by Friday", "tomorrow", "on 2026-12-24"), and
-- parent_memory_id pointing at the note.

local DAY = 86400
local TRIGGERS = {"need to", "needs to", "remember to", "have to", "has to", "must ", "don't forget to", "todo:"}
local WEEKDAYS = {sunday = 1, monday = 2, tuesday = 3, wednesday = 4, thursday = 5, friday = 6, saturday = 7}
local MAX_TASKS = 10

local function due_of(s, now)
  local lower = s:lower()
  local y, m, d = s:match("(%d%d%d%d)%-(%d%d)%-(%d%d)")
  if y then return y .. "-" .. m .. "-" .. d end
  if lower:find("tomorrow", 1, true) then return os.date("!%Y-%m-%d", now + DAY) end
  if lower:find("today", 1, true) or lower:find("tonight", 1, true) then return os.date("!%Y-%m-%d", now) end
  for name, wday in pairs(WEEKDAYS) do
    if lower:find(name, 1, true) then
      local today = tonumber(os.date("!%w", now)) + 1
      local ahead = (wday - today) % 7
      if ahead == 0 then ahead = 7 end
      return os.date("!%Y-%m-%d", now + ahead * DAY)
    end
  end
  return nil
end

local function is_task(sentence)
  local lower = sentence:lower()
  for _, t in ipairs(TRIGGERS) do
    if lower:find(t, 1, true) then return true end
  end
  return false
end

function on_memory_created(ev)
  local m = ev.memory
  if m.type == "action" then return nil end -- never extract from our own output
  local now = pos.now() // 1000
  local made = {}
  for sentence in (m.content or ""):gmatch("[^%.!?\n]+") do
    sentence = sentence:match("^%s*(.-)%s*$")
    if #made < MAX_TASKS and #sentence > 3 and is_task(sentence) then
      local meta = {source_memory_id = m.id, extracted_by = "task-extractor"}
      local due = due_of(sentence, now)
      if due then meta.due_date = due end
      local t = pos.memories.create({content = sentence, type = "action", tags = {"task"},
                                     parent_memory_id = m.id, metadata = meta})
      if t then made[#made + 1] = t.id end
    end
  end
  return {created = made}
end
