-- wrk script for bench/run.sh.
--
--   wrk -s bench/calls.lua URL -- calls TOKEN RUN_TAG FACILITIES
--   wrk -s bench/calls.lua URL -- livez
--
-- "calls": every request is a POST /v1/calls that allocates a fresh call.
--   TOKEN is a dialer API key; RUN_TAG makes call_ref unique across runs on one
--   database; FACILITIES is a comma-separated list of facility ids (one at random per
--   call). call_ref = RUN_TAG-THREAD-COUNTER; patient_ref is drawn from a million
--   patients (so the "same number as last time" affinity is exercised now and then)
--   and patient_phone is a random +3361 mobile; the purpose follows the seed's mix
--   40/25/20/15; dial_at is now plus 60 s to 13 days (the API refuses more than 14),
--   RFC 3339 in UTC.
-- "livez": every request is GET /livez, the HTTP ceiling. The same response() and
--   done() run in both modes, so the Lua overhead on wrk's side is the same.
--
-- done() prints one line "BENCH key=value ..." that run.sh parses: requests/s, p50,
-- p99, and the non-2xx responses counted by status (wrk itself only counts >= 400).

local threads = {}
local next_thread = 0

function setup(thread)
   thread:set("thread_id", next_thread)
   next_thread = next_thread + 1
   table.insert(threads, thread)
end

-- Globals read back by done() through thread:get().
statuses = {}
first_non2xx = nil

local mode, token, tag
local facilities = {}
local counter = 0
local MIX = {
   { 40, "appointment_reminder" },
   { 65, "results_followup" },
   { 85, "coordination" },
   { 100, "satisfaction_survey" },
}
local AHEAD_MIN_S = 60
local AHEAD_MAX_S = 13 * 86400
local headers = { ["Content-Type"] = "application/json" }
local livez_request

function init(args)
   mode = args[1] or "livez"
   if mode == "calls" then
      token = args[2] or error("calls.lua: calls mode needs the dialer key")
      tag = args[3] or tostring(os.time())
      for f in string.gmatch(args[4] or "", "[^,]+") do
         table.insert(facilities, f)
      end
      if #facilities == 0 then
         error("calls.lua: calls mode needs at least one facility id")
      end
      headers["Authorization"] = "Bearer " .. token
   elseif mode == "livez" then
      livez_request = wrk.format("GET", "/livez")
   else
      error("calls.lua: mode must be calls or livez, not " .. mode)
   end
   math.randomseed(os.time() * 1000 + (thread_id or 0) * 7919)
end

function request()
   if livez_request then
      return livez_request
   end
   counter = counter + 1
   local roll = math.random(1, 100)
   local purpose = MIX[#MIX][2]
   for _, m in ipairs(MIX) do
      if roll <= m[1] then
         purpose = m[2]
         break
      end
   end
   local dial_at = os.date("!%Y-%m-%dT%H:%M:%SZ", os.time() + math.random(AHEAD_MIN_S, AHEAD_MAX_S))
   local body = string.format(
      '{"call_ref":"%s-%d-%d","facility":"%s","purpose":"%s","patient_ref":"patient-%d","patient_phone":"+3361%07d","dial_at":"%s"}',
      tag, thread_id or 0, counter, facilities[math.random(1, #facilities)], purpose,
      math.random(1, 1000000), math.random(0, 9999999), dial_at)
   return wrk.format("POST", "/v1/calls", headers, body)
end

function response(status, hdrs, body)
   if status < 200 or status > 299 then
      statuses[status] = (statuses[status] or 0) + 1
      if first_non2xx == nil then
         first_non2xx = status .. " " .. string.sub(body or "", 1, 300)
      end
   end
end

function done(summary, latency, requests)
   local non2xx, by_status, sample = 0, {}, nil
   for _, t in ipairs(threads) do
      for code, n in pairs(t:get("statuses") or {}) do
         non2xx = non2xx + n
         by_status[code] = (by_status[code] or 0) + n
      end
      sample = sample or t:get("first_non2xx")
   end
   local parts = {}
   for code, n in pairs(by_status) do
      table.insert(parts, code .. ":" .. n)
   end
   table.sort(parts)
   local e = summary.errors
   local seconds = summary.duration / 1e6
   io.write(string.format(
      "BENCH requests=%d seconds=%.3f rps=%.1f p50_ms=%.3f p99_ms=%.3f max_ms=%.3f non2xx=%d by_status=%s socket_errors=%d\n",
      summary.requests, seconds, summary.requests / seconds,
      latency:percentile(50) / 1000, latency:percentile(99) / 1000, latency.max / 1000,
      non2xx, (#parts > 0) and table.concat(parts, ",") or "-",
      e.connect + e.read + e.write + e.timeout))
   if sample then
      io.write("BENCH first_non2xx=" .. string.gsub(sample, "\n", " ") .. "\n")
   end
end
