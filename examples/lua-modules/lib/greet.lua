-- lib/greet.lua: what main.lua says. Edit the text and save.
local M = {}

function M.message(who)
	return 'hello, ' .. who
end

return M
