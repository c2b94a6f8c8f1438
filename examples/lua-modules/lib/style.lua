-- lib/style.lua: how main.lua says it.
local M = {}

function M.shout(text)
	return text .. '!'
end

return M
