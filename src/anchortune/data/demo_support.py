"""Demo anchor points written for anchortune: customer support of Brightkettle, a fictional online
shop for kitchen appliances. Twelve intents, several phrasings and answer variants each, filled from
seeded slot values, so the set is varied yet consistent enough to learn from in minutes on a CPU.
"""

from __future__ import annotations

import random

from anchortune.data.records import AnchorPoint

PRODUCTS = ["kettle", "toaster", "espresso machine", "blender", "air fryer", "stand mixer", "rice cooker",
            "milk frother", "slow cooker", "hand blender"]
ORDERS = [f"BK-{n}" for n in (10482, 11937, 12004, 12871, 13350, 14126, 15009, 15562, 16240, 17718)]
DAYS = ["Monday", "Tuesday", "Wednesday", "Thursday", "Friday"]

INTENTS: dict[str, tuple[list[str], list[str]]] = {
    "track_order": ([
        "Where is my order {order}?", "can you tell me where my {product} is? order {order}",
        "My order {order} hasn't arrived yet, where is it?", "How do I track my Brightkettle order?",
        "I ordered a {product} last week. Any news on the delivery?", "tracking info for {order} please",
        "Has order {order} shipped already?", "I'd like to know the status of my {product} order.",
        "is my parcel on its way?", "The tracking page for {order} shows nothing. What now?",
        "When does my {product} get delivered? It says shipped since {day}.", "order status {order}",
        "Could you check whether {order} left your warehouse?", "Where can I see which carrier has my parcel?",
    ], [
        "You can follow order {order} under My Account > Orders > Track parcel. Once it has shipped you "
        "will also find the carrier's tracking number in your shipping confirmation e-mail.",
        "Thanks for asking! Go to My Account > Orders and choose Track parcel next to order {order}. The "
        "page shows where your {product} is and the expected delivery day.",
        "Order {order} can be tracked in My Account > Orders. If the status has not changed for three "
        "working days, reply here and we will contact the carrier for you.",
    ]),
    "cancel_order": ([
        "I want to cancel order {order}.", "please cancel my {product} order", "How can I cancel my order?",
        "Cancel {order}, I ordered it by mistake.", "Is it too late to cancel the {product} I bought today?",
        "I changed my mind about the {product}. Can I still cancel?", "need to cancel an order asap",
        "Stop order {order} please, I found the {product} cheaper elsewhere.", "how do I undo an order?",
        "I placed the same order twice, please cancel {order}.", "Can you cancel my order before it ships?",
        "Where is the cancel button for my order?", "I no longer need the {product}, cancel it.",
        "Does cancelling cost anything?",
    ], [
        "Orders can be cancelled until they are packed, usually within 2 hours. Open My Account > Orders, "
        "select order {order} and click Cancel order. The refund follows within 3-5 working days.",
        "No problem. If order {order} has not been packed yet, choose Cancel order in My Account > Orders. "
        "If the button is greyed out, the {product} is already on its way and you can return it for free.",
        "You can cancel in My Account > Orders as long as the order is not packed. After that, simply "
        "refuse the parcel or return the {product} within 30 days for a full refund.",
    ]),
    "return_item": ([
        "How do I return my {product}?", "I want to send back the {product} from order {order}.",
        "What is your return policy?", "The {product} is not what I expected, can I return it?",
        "return label for {order}", "Can I return a {product} I already used once?",
        "How many days do I have to return something?",
        "Do I have to pay for return shipping?", "the {product} arrived damaged, I want to send it back",
        "I lost the box of my {product}, can I still return it?", "Can I exchange the {product} for another colour?",
        "Where do I drop off my return?", "I got the wrong item in order {order}, how do I return it?",
    ], [
        "You can return any item within 30 days. Start the return in My Account > Orders > Return item, "
        "print the free return label and drop the parcel at any post office.",
        "Sure. Returns are free within 30 days of delivery. Open order {order}, choose Return item, print "
        "the label and pack the {product} in its original box if you still have it.",
        "Brightkettle accepts returns within 30 days, also for used appliances in good condition. Create "
        "the return under My Account > Orders and we refund you once the {product} arrives at our warehouse.",
    ]),
    "refund_status": ([
        "When will I get my refund for {order}?", "I returned the {product} but have no money back yet.",
        "Where is my refund?", "How long does a refund take?", "refund for {order} still missing",
        "I sent the {product} back two weeks ago, what about the refund?",
        "Will I get my money back on my credit card?", "Is the shipping fee refunded too?",
        "You received my return but I see no refund.", "refund status please",
        "How will I be refunded if I paid with PayPal?", "The refund amount for {order} is wrong.",
        "Do you refund in cash or as a voucher?",
    ], [
        "Refunds are issued within 3 working days after your return reaches our warehouse and take 3-5 "
        "more days to show on your statement. You can see the status of order {order} in My Account > Returns.",
        "Once the {product} is checked in at our warehouse, we refund the original payment method within 3 "
        "working days. If it has been longer than 10 working days, reply with order {order} and we will check.",
    ]),
    "change_address": ([
        "I need to change the delivery address for {order}.", "Can I change my shipping address?",
        "I moved, how do I update my address?", "wrong address on order {order}",
        "Please send my {product} to a different address.", "How do I change where my order is delivered?",
        "I made a typo in my street name on {order}.", "Can my parcel go to my office instead?",
        "Can I pick up order {order} at a pickup point?", "update billing address",
        "I will not be home on {day}, can you deliver elsewhere?", "The postcode on my order is wrong.",
        "Can I add a second address to my account?",
    ], [
        "You can change the address of order {order} until it is packed: open My Account > Orders and "
        "choose Edit delivery address. For future orders, update it under My Account > Addresses.",
        "If the {product} has not shipped yet, edit the address in My Account > Orders. Once shipped, use "
        "the carrier's tracking page to redirect the parcel to a new address or a pickup point.",
    ]),
    "payment_failed": ([
        "My payment failed, what should I do?", "The checkout says my card was declined.",
        "Why can't I pay for the {product}?", "payment error at checkout", "I was charged but the order failed.",
        "PayPal payment did not go through for my {product}.",
        "Which payment methods do you accept?", "Can I pay by bank transfer?",
        "My card was charged twice for {order}.", "The payment page keeps loading forever.",
        "Why was my Mastercard refused?", "Do you offer payment in instalments?",
        "Error 402 when paying, help",
    ], [
        "Sorry about that. Please check that the card details and billing address match, then try again. "
        "We accept Visa, Mastercard, PayPal and bank transfer. A failed payment is never charged.",
        "If your bank shows a charge but no order was created, it is only a reservation and it is released "
        "within 5 working days. You can place the order for the {product} again with another payment method.",
    ]),
    "warranty_claim": ([
        "My {product} stopped working.", "The {product} is broken after three months.",
        "How does the warranty work?", "warranty claim for my {product}", "Is my {product} still under warranty?",
        "My {product} from order {order} makes a strange noise.",
        "The lid of my {product} broke, is that covered?", "How long is the warranty on your appliances?",
        "Can you repair my {product}?", "My {product} gets very hot on the outside.",
        "I need a replacement part for my {product}.", "Does the warranty cover accidental damage?",
        "I lost my receipt, can I still claim warranty?",
    ], [
        "All Brightkettle appliances have a 2-year warranty. Open My Account > Orders, choose Report a "
        "problem next to the {product} and describe the fault; we send a free return label and repair or "
        "replace it.",
        "I'm sorry the {product} is not working. It is covered by our 2-year warranty: start a claim under "
        "My Account > Orders > Report a problem and add a short video of the fault if you can.",
    ]),
    "product_availability": ([
        "Is the {product} in stock?", "When will the {product} be available again?",
        "Do you have the {product} in red?", "the {product} is sold out, will you restock?",
        "Can I pre-order the {product}?",
        "Is the blue {product} coming back?", "Why is the {product} unavailable in my country?",
        "Do you still sell spare filters?", "How many {product}s do you have left?",
        "Will the {product} be in stock before {day}?", "Can I reserve a {product}?",
        "Does the {product} come in a bigger size?", "Is the {product} sold out everywhere?",
    ], [
        "The product page shows live stock. If the {product} is sold out, click Notify me and we will "
        "e-mail you as soon as it is back, usually within 2-3 weeks.",
        "Stock changes daily. You can choose the colour on the {product} page, and for sold-out items the "
        "Notify me button sends you an e-mail when they return.",
    ]),
    "delivery_time": ([
        "How long does delivery take?", "When will my {product} arrive?", "Do you deliver on {day}?",
        "What are the delivery options?", "How fast is express shipping?", "Can I get the {product} by {day}?",
        "Is shipping free?", "Do you ship to Switzerland?", "How much does express delivery cost?",
        "What time of day do you deliver?", "Until when do I have to order for next-day delivery?",
        "Do you deliver on weekends?", "How long does it take to ship a {product} abroad?",
    ], [
        "Standard delivery takes 2-4 working days and is free from 50 euros. Express delivery arrives the "
        "next working day if you order before 2 pm.",
        "Orders placed before 2 pm on a working day leave our warehouse the same day. Standard delivery "
        "takes 2-4 working days; choose Express at checkout for next-day delivery of your {product}.",
    ]),
    "reset_password": ([
        "I forgot my password.", "How do I reset my password?", "I can't log in to my account.",
        "password reset email never arrived", "locked out of my Brightkettle account",
        "My login doesn't work anymore.", "how to change my password", "The reset link says it expired.",
        "I typed the wrong password too many times.", "Can you reset my password for me?",
        "I need a new password to check order {order}.", "Forgot my login details, help",
        "Why do I not get the password reset e-mail?", "How long is the password link valid?",
        "I can't sign in to see my {product} order.",
    ], [
        "Click Forgot password on the login page and enter your e-mail address. The reset link is valid "
        "for 1 hour; check your spam folder if it does not arrive within a few minutes.",
        "Use Forgot password on the login page. If no e-mail arrives within 10 minutes, check the spam "
        "folder or make sure you use the address you registered with.",
    ]),
    "invoice_copy": ([
        "I need an invoice for order {order}.", "Can you send me a copy of my invoice?",
        "Where do I find the invoice for my {product}?", "I need a VAT invoice for my company.",
        "invoice for {order} please",
        "The invoice shows my old address.", "Can I get the invoice in my company's name?",
        "I did not receive an invoice with my {product}.", "Does the invoice include VAT?",
        "Please resend the invoice of {order} by e-mail.", "Where is my receipt?",
        "My accountant needs a PDF invoice.", "Can you split the invoice for {order} in two?",
    ], [
        "You can download the invoice for order {order} as a PDF under My Account > Orders > Invoice. "
        "To add a company name and VAT number, edit the billing address before downloading.",
        "Invoices are available in My Account > Orders: choose Invoice next to the order of your {product}. "
        "They include VAT and can be used for company expenses.",
    ]),
    "contact_human": ([
        "I want to talk to a person.", "Can I call you?", "What is your phone number?",
        "How do I reach customer service?", "I need to speak with an agent about order {order}.",
        "Is there a live chat?", "When is your support team available?", "I'd rather talk to a human about my {product}.",
        "Is your hotline free?", "Can someone call me back?", "I need a real person, not a bot.",
        "What is your e-mail address for complaints?", "Are you open on {day}?",
    ], [
        "You can reach our support team by phone Monday to Friday, 8 am to 6 pm, or by chat on every page "
        "of our website. Have your order number ready, for example {order}.",
        "Of course. Our team answers by chat and phone from Monday to Friday, 8 am to 6 pm. Outside those "
        "hours, leave a message and we will call you back the next working day.",
    ]),
}


def support_demo(n_per_intent: int = 13, seed: int = 7) -> list[AnchorPoint]:
    """A varied support set: up to n_per_intent prompts per intent, each phrasing used once (so no two
    examples are near duplicates), with one of the intent's answers filled from the same slots."""
    rng = random.Random(seed)
    points: list[AnchorPoint] = []
    for intent, (prompts, answers) in INTENTS.items():
        for template in rng.sample(prompts, min(n_per_intent, len(prompts))):
            slots = {"order": rng.choice(ORDERS), "product": rng.choice(PRODUCTS), "day": rng.choice(DAYS)}
            prompt = template.format(**slots)
            answer = rng.choice(answers).format(**slots)
            messages = ({"role": "user", "content": prompt}, {"role": "assistant", "content": answer})
            points.append(AnchorPoint(messages, line=0, label=intent))
    rng.shuffle(points)
    return [AnchorPoint(p.messages, line=i, label=p.label) for i, p in enumerate(points, start=1)]
