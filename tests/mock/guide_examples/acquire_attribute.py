# Copied verbatim from the Exist API v2 guide, guide/write_client.md (Hello Code).
# tests/mock/test_guide_examples.py runs it against mock-exist, changing only the host
# and filling in the token/client placeholders.
import requests, json

TOKEN = '[your_token]'

def acquire_attribute(token, attribute):
    # make the json string to send to Exist
    body = json.dumps([{'template': attribute, 'manual': False}])

    # make the POST request, sending the json as the POST body
    # we need a content-type header so Exist knows it's json
    response = requests.post("https://exist.io/api/2/attributes/acquire/", 
        data=body,
        headers={'Authorization':f'Bearer {token}',
                 'Content-type':'application/json'})

    if response.status_code == 200:
        # a 200 status code indicates a successful outcome
        print("Acquired successfully.")
    else:
        # print the error if something went wrong
        data = response.json()
        print("Error:", data)

# call the function with the attribute we're after
acquire_attribute(TOKEN, "pages_read")
