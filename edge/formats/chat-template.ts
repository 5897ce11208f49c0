/** A chat message after validation: content flattened to text. */
export interface ChatMessage {
  role: 'system' | 'developer' | 'user' | 'assistant' | 'tool';
  content: string;
}

export type ChatTemplate = 'chatml' | 'deepseek' | 'plain';

/**
 * Renders messages into the prompt a `tgi` container expects, ending where the assistant's
 * turn begins. `deepseek` is the DeepSeek-V3/R1 format; `chatml` the Qwen/OpenAI one.
 */
export const renderChat = (messages: readonly ChatMessage[], template: ChatTemplate): string => {
  switch (template) {
    case 'chatml':
      return (
        messages.map((m) => `<|im_start|>${roleOf(m)}\n${m.content}<|im_end|>\n`).join('') +
        '<|im_start|>assistant\n'
      );
    case 'deepseek': {
      const system = messages
        .filter((m) => m.role === 'system' || m.role === 'developer')
        .map((m) => m.content)
        .join('\n\n');
      const turns = messages
        .filter((m) => m.role !== 'system' && m.role !== 'developer')
        .map((m) =>
          m.role === 'assistant'
            ? `<｜Assistant｜>${m.content}<｜end▁of▁sentence｜>`
            : `<｜User｜>${m.content}`,
        )
        .join('');
      return `<｜begin▁of▁sentence｜>${system}${turns}<｜Assistant｜>`;
    }
    case 'plain':
      return messages.map((m) => `${roleOf(m)}: ${m.content}\n`).join('') + 'assistant:';
  }
};

const roleOf = (m: ChatMessage): string => (m.role === 'developer' ? 'system' : m.role);
