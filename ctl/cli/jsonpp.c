/* jsonpp.c — see jsonpp.h. */
#include "jsonpp.h"

#include <string.h>

struct pp {
	FILE *f;
	int depth;
	int in_str, esc;
};

static void
newline(struct pp *p)
{
	fputc('\n', p->f);
	for (int i = 0; i < p->depth; i++)
		fputs("  ", p->f);
}

/* Next non-blank byte at or after i, or '\0'. */
static char
peek(const char *t, size_t len, size_t i)
{
	for (; i < len; i++)
		if (strchr(" \t\r\n", t[i]) == NULL)
			return t[i];
	return '\0';
}

static void
string_byte(struct pp *p, char c)
{
	fputc(c, p->f);
	if (p->esc)
		p->esc = 0;
	else if (c == '\\')
		p->esc = 1;
	else if (c == '"')
		p->in_str = 0;
}

static size_t
structural(struct pp *p, const char *t, size_t len, size_t i)
{
	char c = t[i], next;

	switch (c) {
	case '{': case '[':
		fputc(c, p->f);
		next = peek(t, len, i + 1);
		if (next == '}' || next == ']') {
			fputc(next, p->f);
			while (t[++i] != next)
				;
			return i;
		}
		p->depth++;
		newline(p);
		return i;
	case '}': case ']':
		p->depth--;
		newline(p);
		fputc(c, p->f);
		return i;
	case ',':
		fputc(c, p->f);
		newline(p);
		return i;
	case ':':
		fputs(": ", p->f);
		return i;
	case '"':
		p->in_str = 1;
		/* fall through */
	default:
		fputc(c, p->f);
		return i;
	}
}

int
jsonpp_write(FILE *f, const char *text, size_t len)
{
	struct pp p = { .f = f };

	for (size_t i = 0; i < len; i++) {
		if (p.in_str)
			string_byte(&p, text[i]);
		else if (strchr(" \t\r\n", text[i]) == NULL)
			i = structural(&p, text, len, i);
	}
	fputc('\n', f);
	return ferror(f) ? -1 : 0;
}
