// Query-side expansions: how callers say things vs how the KB writes them. Each match adds the
// KB's words to the query at a reduced weight (the caller's own words still count most).
export type Expansion = [pattern: RegExp, kbWords: string];

export const DEFAULT_EXPANSIONS: readonly Expansion[] = [
  [/\b(send|sent|sending|ship|bring|take|mail)( it| them| this| that| something| everything| the \w+)? back\b/, 'return'],
  [/\bmoney back\b|\breimburs/, 'refund'],
  [/\b(twice|two times|double|duplicate)\b/, 'double charge'],
  [/\b(can not|do not|did not) remember\b|\bforg[oe]t(ten)?\b/, 'forgot'],
  [/\b(get here|get to me|arrive|arrives|show up|be delivered)\b/, 'arrive'],
  [/\bhow much\b|\bcharge (for|on)\b|\bfees?\b|\bprices?\b/, 'cost'],
  [/\b(broken|broke|crack|cracked|smashed|shattered|dented|scratched|torn|ripped)\b/, 'damaged broken'],
  [/\b(stopped working|quit working|not working anymore|faulty|defective|fell apart)\b/, 'defect warranty'],
  [/\b(stolen|disappeared|went missing|someone took)\b/, 'lost not received'],
  [/\b(log in|login|logon|sign in|signin|get in)\b/, 'sign in'],
  [/\b(abroad|overseas|another country|other countries|outside the (us|united states))\b/, 'international'],
  [/\b(failed|fails|rejected|denied|declin\w*|(not|did not|will not) go through)\b/, 'declined'],
  [/\b(swap|switch)\b/, 'exchange'],
  [/\b(lose|losing|misplaced|cannot find)\b/, 'lost'],
  [/\bstill (no|not|have not|has not|waiting)\b|\b(have not|has not|never) (received|got|seen)\b/, 'status'],
  [/\b(receipt|bill)\b/, 'invoice'],
  [/\b(coupon|voucher|discount)\b/, 'promo code'],
  [/\b(unsubscribe|promotional|newsletter|marketing|spam)\b/, 'marketing emails'],
];
