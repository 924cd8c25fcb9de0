// Fixed replies for the conversational intents. Short, one idea per sentence, speakable.
export interface Replies {
  greeting: string[];
  goodbye: string[];
  escalate: string[];
  stop: string[];
  outOfScope: string[];
  clarify: string[];
  /** `{topic}` is replaced by the proposed article's title. */
  clarifySuggest: string[];
  repeatPrefix: string;
  nothingToRepeat: string[];
  affirm: string[];
  deny: string[];
}

export const DEFAULT_REPLIES: Replies = {
  greeting: ['Hello!', 'How can I help you today?'],
  goodbye: ['Thank you for calling.', 'Have a great day. Goodbye!'],
  escalate: ['Of course.', "I'll connect you with a member of our team now.", 'Please stay on the line.'],
  stop: ['Okay.', 'What else can I help you with?'],
  outOfScope: [
    "Sorry, that's not something I can help with.",
    'I can answer questions about orders, returns, delivery, billing and your account.',
    'Would you like to speak with an agent?',
  ],
  clarify: [
    "Sorry, I didn't quite get that.",
    'Could you say it another way?',
    'I can help with orders, returns, delivery, billing and your account.',
  ],
  clarifySuggest: ["Sorry, I'm not sure I understood.", 'Is your question about {topic}?'],
  repeatPrefix: 'Sure.',
  nothingToRepeat: ["I haven't said anything yet.", 'How can I help you today?'],
  affirm: ['Great.', 'Is there anything else I can help you with?'],
  deny: ['Okay.', 'Is there anything else I can help you with?'],
};
