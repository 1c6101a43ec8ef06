-- auto-tagger: tags a new memory with the user's own vocabulary (every tag
-- the plugin has seen on a memory, kept in kv) when the tag's words appear
-- in the content, and with the keyword rules of the settings.
--
-- It runs in on_memory_creating, before the memory is stored: the tags it
-- returns are written with the row, so tagging costs no second write
-- (docs/PLUGINS.md "Tagging before the insert"). What it derives from the
-- kv value and the settings is kept between calls of a reused sandbox
-- (keyed by the text it came from, so never stale).

local VOCAB_MAX = 500

local function words_of(text)
  local set = {}
  for w in text:lower():gmatch("%w+") do set[w] = true end
  return set
end

-- The words of a phrase, in order.
local function word_list(phrase)
  local list = {}
  for w in phrase:lower():gmatch("%w+") do list[#list + 1] = w end
  return list
end

-- True when the phrase has a word and every one is in `words`.
local function has_all(words, list)
  for i = 1, #list do
    if not words[list[i]] then return false end
  end
  return #list > 0
end

-- The vocabulary of the last kv value seen, and each tag's words
-- ("project-apollo" -> {"project", "apollo"}).
local vocab_text, vocab, vocab_words = nil, {}, {}

local function load_vocab()
  local v = pos.kv.get("vocab")
  if v ~= vocab_text then
    vocab_text = v
    vocab = v and pos.json.decode(v) or {}
    vocab_words = {}
    for i, tag in ipairs(vocab) do vocab_words[i] = word_list((tag:gsub("[%-_/]", " "))) end
  end
  return vocab, vocab_words
end

local function parse_rules(s)
  local rules = {}
  for tag, kws in (s or ""):gmatch("([^:;]+):([^;]*)") do
    tag = tag:match("^%s*(.-)%s*$")
    local list = {}
    for kw in kws:gmatch("[^,]+") do
      kw = kw:match("^%s*(.-)%s*$"):lower()
      if kw ~= "" then list[#list + 1] = word_list(kw) end
    end
    if tag ~= "" then rules[#rules + 1] = {tag = tag, keywords = list} end
  end
  return rules
end

-- The settings (fixed for a sandbox: changing them makes a new one) and
-- the rules parsed from them.
local settings, rules

function on_memory_creating(ev)
  local m = ev.memory
  if not settings then
    settings = pos.settings()
    rules = parse_rules(settings.rules)
  end
  local words = words_of(m.content or "")
  local have, add = {}, {}
  local own = m.tags or {}
  for _, t in ipairs(own) do have[t] = true end
  local vocab, vwords = load_vocab()
  local limit = math.tointeger(settings.max_tags) or 5

  local function want(tag)
    if not have[tag] and #add < limit then
      have[tag] = true
      add[#add + 1] = tag
    end
  end
  for i, tag in ipairs(vocab) do
    if has_all(words, vwords[i]) then want(tag) end
  end
  for _, r in ipairs(rules) do
    for _, kw in ipairs(r.keywords) do
      if has_all(words, kw) then want(r.tag) break end
    end
  end

  -- Learn the memory's own tags for next time.
  local learned
  if #own > 0 then
    local known = {}
    for _, t in ipairs(vocab) do known[t] = true end
    for _, t in ipairs(own) do
      if not known[t] and #vocab + #(learned or {}) < VOCAB_MAX then
        learned = learned or {}
        learned[#learned + 1] = t
        known[t] = true
      end
    end
  end
  if learned then
    local grown = table.move(vocab, 1, #vocab, 1, {})
    table.move(learned, 1, #learned, #grown + 1, grown)
    pos.kv.set("vocab", pos.json.encode(grown))
  end

  if #add == 0 then return nil end
  return {tags = add}
end
