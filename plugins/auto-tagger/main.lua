-- auto-tagger: tags a new memory with the user's own vocabulary (every tag
-- the plugin has seen on a memory, kept in kv) when the tag's words appear
-- in the content, and with the keyword rules of the settings.

local VOCAB_MAX = 500

local function words_of(text)
  local set = {}
  for w in text:lower():gmatch("%w+") do set[w] = true end
  return set
end

local function load_vocab()
  local v = pos.kv.get("vocab")
  return v and pos.json.decode(v) or {}
end

local function parse_rules(s)
  local rules = {}
  for tag, kws in (s or ""):gmatch("([^:;]+):([^;]*)") do
    tag = tag:match("^%s*(.-)%s*$")
    local list = {}
    for kw in kws:gmatch("[^,]+") do
      kw = kw:match("^%s*(.-)%s*$"):lower()
      if kw ~= "" then list[#list + 1] = kw end
    end
    if tag ~= "" then rules[#rules + 1] = {tag = tag, keywords = list} end
  end
  return rules
end

-- True when every word of `phrase` is in `words`.
local function has_all(words, phrase)
  local any = false
  for w in phrase:lower():gmatch("%w+") do
    if not words[w] then return false end
    any = true
  end
  return any
end

function on_memory_created(ev)
  local m = ev.memory
  local s = pos.settings()
  local words = words_of(m.content or "")
  local have, add = {}, {}
  for _, t in ipairs(m.tags or {}) do have[t] = true end
  local vocab = load_vocab()
  local limit = math.tointeger(s.max_tags) or 5

  local function want(tag)
    if not have[tag] and #add < limit then
      have[tag] = true
      add[#add + 1] = tag
    end
  end
  for _, tag in ipairs(vocab) do
    if has_all(words, (tag:gsub("[%-_/]", " "))) then want(tag) end
  end
  for _, r in ipairs(parse_rules(s.rules)) do
    for _, kw in ipairs(r.keywords) do
      if has_all(words, kw) then want(r.tag) break end
    end
  end

  -- Learn the memory's own tags for next time.
  local known, changed = {}, false
  for _, t in ipairs(vocab) do known[t] = true end
  for _, t in ipairs(m.tags or {}) do
    if not known[t] and #vocab < VOCAB_MAX then
      vocab[#vocab + 1] = t
      known[t] = true
      changed = true
    end
  end
  if changed then pos.kv.set("vocab", pos.json.encode(vocab)) end

  if #add > 0 then pos.memories.tag(m.id, add) end
  return {added = add}
end
